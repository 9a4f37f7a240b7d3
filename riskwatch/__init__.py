"""riskwatch: real-time fraud and risk monitoring of bank transaction streams."""
