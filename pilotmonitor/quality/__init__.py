"""Data quality of the raw deliveries: Great Expectations 1.x suites (expectations/*.json)
validated per delivery on pandas frames read from the warehouse, results kept in
quality.validation_results, Data Docs pages in <data dir>/quality/data_docs."""
