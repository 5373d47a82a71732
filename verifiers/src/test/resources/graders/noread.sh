#!/bin/sh
# Answers without reading its input.
echo '{"reward": 0.5, "success": false, "feedback": "half right"}'
