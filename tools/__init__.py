"""The maintainers' tools: navigation and contents, minutes, schedules, the HTML site, the learners' working
copies and `make lab`. They import the course (helpers/), never workshop mode (room/)."""
