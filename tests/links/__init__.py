"""The extra links of each platform."""
