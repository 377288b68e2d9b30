NAME = "busy"
