"""One Prefect flow per playbook job, composed from tasks."""
