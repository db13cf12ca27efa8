"""The judge: Viva's rules over data.csv and the organization, and the findings report."""
