"""Mozafari et al.'s R-STDP family: the DoG-latency encoder, the fire-once IF
neuron, the network, its STDP/R-STDP rule, and the spike-time helpers they share."""
