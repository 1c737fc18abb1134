"""Chen, Li, Ding, Liu 2022: rethinking two consensuses of the transferability in deep learning."""
