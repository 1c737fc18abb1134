"""Neyshabur, Sedghi, Zhang 2020: what is being transferred in transfer learning?"""
