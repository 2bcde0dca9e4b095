"""Documents for people: the run report (run_data gathers, run_report renders, html builds), model
cards, the console summary and the delivery KPIs."""
