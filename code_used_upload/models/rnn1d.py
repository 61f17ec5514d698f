"""lstm and lstm_bidir: the benchmark's 2-layer LSTMs (hidden 256) with mean/max/last-step pooling."""
import torch
from torch import nn

from .recipe import Recipe
from .registry import register_backbone

# The benchmark's LSTMs: one-cycle to 1e-3 and gradient clipping at norm 0.25. Quirk kept on purpose, so
# that the table reproduces what the reference ran: its clipping check matched the model names `lstm`
# and `lstm_bidir` exactly, so its LDM LSTMs trained without clipping.
LSTM_RECIPE = Recipe(max_lr=1e-3, clip=0.25)
LSTM_LDM_RECIPE = Recipe(max_lr=1e-3, clip=None)


class LSTM1d(nn.Module):
    """(B, C, T) -> LSTM over time -> [mean over time, max over time, last time step] = (B, 3 * H * directions).

    The benchmark's bidirectional pooling meant to take the forward direction's last step and the
    backward direction's first step, but it sliced with the full width, so it takes the last step of
    both directions. We keep what it computed: same features, same parameter count as the reference.
    """

    def __init__(self, input_channels, hidden=256, num_layers=2, bidirectional=False):
        super().__init__()
        self.lstm = nn.LSTM(input_channels, hidden, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
        self.out_features = 3 * hidden * (2 if bidirectional else 1)

    def forward(self, x):
        # Always float32: autocast would run cuDNN's RNN in float16 whatever dtype it was asked for,
        # without loss scaling, and the reference trained these in float32.
        with torch.autocast(x.device.type, enabled=False):
            out, _ = self.lstm(x.float().transpose(1, 2))  # (B, T, H * directions)
        return torch.cat([out.mean(dim=1), out.amax(dim=1), out[:, -1]], dim=1)


@register_backbone("lstm", row="LSTM", recipe=LSTM_RECIPE, ldm_recipe=LSTM_LDM_RECIPE)
def lstm(input_channels):
    return LSTM1d(input_channels)


@register_backbone("lstm_bidir", row="LSTM_bidir", recipe=LSTM_RECIPE, ldm_recipe=LSTM_LDM_RECIPE)
def lstm_bidir(input_channels):
    return LSTM1d(input_channels, bidirectional=True)
