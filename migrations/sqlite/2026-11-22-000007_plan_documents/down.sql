DROP TABLE plan_documents;
