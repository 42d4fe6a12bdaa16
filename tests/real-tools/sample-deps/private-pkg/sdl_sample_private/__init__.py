"""Sample private package for sdl-gate's real-tool tests."""
