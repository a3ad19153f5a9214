"""The provider's tests, by layer and platform as the package is (models, hooks, operators, sensors, triggers, links, shared); a package so two folders may hold files of the same name."""
