"""Looking forward: predicted orders, CLV and churn per customer (BG/NBD + Gamma-Gamma against a
gradient boosting challenger, chosen on a temporal holdout), and behaviour clusters found in the
data with their drift between refreshes. See docs/predictions.md."""
