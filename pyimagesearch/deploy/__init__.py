"""A trained network outside Keras: export to ONNX, LiteRT and SavedModel (int8 included),
the runtimes that run the exported files, and the check that they predict as the model does."""
