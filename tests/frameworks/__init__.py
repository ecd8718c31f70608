"""Each framework's app built the way its docs build it, wrapped whole with ``build_stack``."""
