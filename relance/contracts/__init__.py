"""What crosses a boundary: event shapes, workflow and activity models, kinds, messages, settings."""
