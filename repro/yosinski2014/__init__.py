"""Yosinski et al. 2014, "How transferable are features in deep neural networks?".

protocol.py declares every run of every experiment at every scale; data.py
loads a task's images; compare.py sets the results beside the published
numbers and judges the paper's claims (claims.py) and draws the figures
(figures.py).
"""
