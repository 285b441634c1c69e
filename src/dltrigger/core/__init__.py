"""The bottom layer: the data schema, errors, files and arrays, the Spark session, input sources, the
config and its schemas, the model registry, rates with their errors, checkpoints and fault injection.
It imports nothing else of the package."""
