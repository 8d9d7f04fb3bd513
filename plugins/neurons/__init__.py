"""Built-in neuron models: snnTorch's and SpikingJelly's behind one layer
interface, and ``lif_fused``, snnbench's own LIF with its kernel backends."""
