"""The test suite; its folders mirror publisher/'s subpackages."""
