"""Small-scale reproductions of the papers' claims (see experiments/studies.py).

  python3 -m experiments list
  python3 -m experiments hne_objectives --out=results/hne_objectives
  python3 -m experiments all --out=results
"""
