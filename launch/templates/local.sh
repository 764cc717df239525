#!/bin/bash
# {{title}}
# Rendered by: {{rendered_by}}
# Run with: bash {{script_name}}      (a workstation, or inside an salloc/sbatch allocation)
# SIGTERM or SIGUSR1 to this script: every rank commits its finished work and the run exits 75; a
# kill or Ctrl-C loses at most the work since the last commit. Either way, run it again to resume.
{{body}}
