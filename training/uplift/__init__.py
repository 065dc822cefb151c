"""Uplift: which action changes what a customer does, learned from past campaigns with control groups.

`campaigns` runs the default playbook's campaigns on synthetic data with a known truth; `dataset`
turns actions and their closed outcomes into training rows (features at assignment, success in the
window); `learners` fits T- and X-learners on LightGBM; `metrics` holds the Qini coefficient and the
uplift in the top deciles; `fit` backtests out of time and fits every action that has enough
outcomes in both groups; `register` adds the uplift models to a model pair.
"""
