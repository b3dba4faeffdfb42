"""FaceShifter's networks (AEI-Net, HEAR-Net) and the ArcFace IR-SE50 encoder, in the published layouts."""
from services.swapper.nets.aei_net import AEI_Net
from services.swapper.nets.arcface import Backbone
from services.swapper.nets.hear_net import HearNet

__all__ = ["AEI_Net", "Backbone", "HearNet"]
