"""One module per command group; each exports COMMANDS for publisher.cli to register."""
