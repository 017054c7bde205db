"""Zoo: architecture specs (plain data), layers, blocks, parts, the model builder, measures and presets."""
