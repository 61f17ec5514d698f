"""PTB-XL benchmark with the Label Decoupling Module (Zhang et al., KBS 2023), in plain PyTorch."""
