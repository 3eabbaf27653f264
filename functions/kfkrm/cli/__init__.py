"""Command-line entry points: `kfkrm` (cli.main), its `images` and `validate` commands, and
`kfkrm-docker`, the docker stand-in that runs kfkrm images in-process."""
