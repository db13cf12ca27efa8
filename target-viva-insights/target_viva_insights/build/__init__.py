"""Records to data.csv: column mapping and names, value formatting, the data.csv writer."""
