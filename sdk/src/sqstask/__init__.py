"""sqstask: distributed tasks on SQS FIFO."""
