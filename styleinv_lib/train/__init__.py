"""Training: the GAN losses and regularisers (:mod:`.losses`), adaptive discriminator augmentation
(:mod:`.augment`), checkpoints, and one module per training stage.

Submodules are imported on demand (``from styleinv_lib.train.augment import AugmentPipe``); this package imports
nothing eagerly, so ``import styleinv_lib.train`` stays cheap.
"""
