"""`make demo`: the whole sqstask flow on a local AWS emulator, with the module applied by Terraform."""
