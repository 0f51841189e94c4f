"""Parts the baselines share: generators, discriminators, encoders, AdaIN, GAN losses.

Grouped by the code family whose checkpoint key names they reproduce, so a paper config loads
the authors' released weights as they are.
"""
