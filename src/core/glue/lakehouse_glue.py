"""Shared helpers of the library's Glue merge scripts (imported as ``import lakehouse_glue as lg``).

Placeholder of the mergejob branch: the shared module itself comes from the pyglue branch.
MergeJob ships this file as an S3 asset and passes it to every job with ``--extra-py-files``.
"""
