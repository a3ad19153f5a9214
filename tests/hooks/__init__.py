"""The hooks of each platform against the emulator over real HTTP, with the official SDK clients."""
