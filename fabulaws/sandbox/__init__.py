"""A local AWS for rehearsing deployments: moto's server plus the control loops AWS runs."""
