"""Yosinski et al. 2014, "How transferable are features in deep neural networks?".

protocol.py holds the protocol and grid of every experiment at every scale;
experiment.py executes one run; compare.py sets the results beside the
published numbers and judges the paper's claims.
"""
