def function():
    return "Hi from 2nd ROM!\n"
