"""Neural network builders."""
