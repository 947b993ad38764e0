import { Injectable } from '@nestjs/common';

export interface User {
  id: number;
  username: string;
  name: string;
}

/** Demo users. A real app checks hashed passwords in its database. */
@Injectable()
export class UsersService {
  private readonly users = [
    { id: 1, username: 'alice', password: 'wonderland', name: 'Alice' },
    { id: 2, username: 'bob', password: 'builder', name: 'Bob' },
  ];

  check(username: unknown, password: unknown): User | undefined {
    const user = this.users.find((u) => u.username === username && u.password === password);
    return user && { id: user.id, username: user.username, name: user.name };
  }

  byId(id: number): User | undefined {
    const user = this.users.find((u) => u.id === id);
    return user && { id: user.id, username: user.username, name: user.name };
  }
}
