namespace ScheduledPosts.Testing;

/// <summary>
/// What a test class made outside its process — databases and virtual hosts on the shared servers, folders in the temp
/// directory — and the hosts that use them, all undone on <see cref="DisposeAsync"/> in reverse order: a host added
/// after its database stops before the database is dropped. Every removal is tried even when one fails, and a second
/// disposal does nothing.
/// </summary>
/// <param name="logFailures">
/// When given, a removal that fails is written there instead of thrown: for servers a test may have left stopped.
/// </param>
public sealed class TestResources(Action<string>? logFailures = null) : IAsyncDisposable
{
    private readonly Stack<(string What, Func<Task> Undo)> _undo = new();

    /// <summary>A new database on the shared server, dropped on disposal; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync() => AddDatabase(await Infrastructure.CreateDatabaseAsync());

    /// <summary>A new virtual host on the shared broker, deleted on disposal.</summary>
    public async Task<(RabbitMqServer Server, string VirtualHost)> CreateVirtualHostAsync()
    {
        var (rabbit, vhost) = await Infrastructure.CreateVirtualHostAsync();
        AddVirtualHost(rabbit, vhost);
        return (rabbit, vhost);
    }

    /// <summary>Drops the database <paramref name="connectionString"/> names on disposal; returns the connection string.</summary>
    public string AddDatabase(string connectionString)
    {
        Push($"database {new Npgsql.NpgsqlConnectionStringBuilder(connectionString).Database}", () => Infrastructure.DropDatabaseAsync(connectionString));
        return connectionString;
    }

    public void AddVirtualHost(RabbitMqServer rabbit, string vhost)
        => Push($"virtual host {vhost}", () => Infrastructure.DeleteVirtualHostAsync(rabbit, vhost));

    /// <summary>Deletes the services' users of <paramref name="vhost"/> (<see cref="BrokerUsers"/>) on disposal.</summary>
    public void AddBrokerUsers(RabbitMqServer rabbit, string vhost)
        => Push($"broker users of {vhost}", () => BrokerUsers.DeleteAsync(rabbit, vhost));

    /// <summary>Deletes the folder <paramref name="path"/> (created by then or not) with its contents on disposal; returns the path.</summary>
    public string AddDirectory(string path)
    {
        Push($"folder {path}", () =>
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }

            return Task.CompletedTask;
        });
        return path;
    }

    /// <summary>Disposes <paramref name="user"/> — a host, a process — before whatever was added ahead of it is removed.</summary>
    public T Add<T>(T user) where T : IAsyncDisposable
    {
        Push(user.GetType().Name, async () => await user.DisposeAsync());
        return user;
    }

    private void Push(string what, Func<Task> undo)
    {
        lock (_undo)
        {
            _undo.Push((what, undo));
        }
    }

    public async ValueTask DisposeAsync()
    {
        var failures = new List<Exception>();
        while (true)
        {
            (string What, Func<Task> Undo) next;
            lock (_undo)
            {
                if (!_undo.TryPop(out next))
                {
                    break;
                }
            }

            try
            {
                await next.Undo();
            }
            catch (Exception e)
            {
                failures.Add(new InvalidOperationException($"Could not remove the test's {next.What}: {e.Message}", e));
            }
        }

        if (failures.Count == 0)
        {
            return;
        }

        if (logFailures is null)
        {
            throw new AggregateException(failures);
        }

        foreach (var failure in failures)
        {
            logFailures(failure.Message);
        }
    }
}
