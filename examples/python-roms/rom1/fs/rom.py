def function():
    return "Hi from 1st ROM!\n"
