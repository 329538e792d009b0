"""The deployer: whether a candidate goes live (check-deploy), its promotion (deploy), and rollback."""
