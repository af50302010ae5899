using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Npgsql;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace ScheduledPosts.Testing;

/// <summary>Where a test class's fresh database and fresh RabbitMQ virtual host live.</summary>
public sealed record RabbitMqServer(string Host, int Port, string Username, string Password, Uri ManagementUrl);

/// <summary>
/// The real PostgreSQL and RabbitMQ the tests run against, shared by every test class of the process:
/// the servers <c>./test.sh</c> started (<c>SP_TEST_POSTGRES</c>, <c>SP_TEST_RABBITMQ</c>), else
/// Testcontainers when a Docker engine is reachable. Each test class gets its own database and vhost.
/// </summary>
public static class Infrastructure
{
    /// <summary>How the tests' databases and virtual hosts are named, to tell them from anything else on the servers.</summary>
    public const string TestPrefix = "sp_test_";

    private static readonly Lazy<Task<(string Postgres, RabbitMqServer Rabbit)>> Servers = new(StartAsync);

    /// <summary>A new, empty database; returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var (postgres, _) = await Servers.Value;
        return await CreateDatabaseAsync(postgres);
    }

    /// <summary>A new, empty database on the server <paramref name="postgres"/> connects to (as a user who may create one).</summary>
    public static async Task<string> CreateDatabaseAsync(string postgres)
    {
        string name = $"{TestPrefix}{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(postgres))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(postgres) { Database = name }.ConnectionString;
    }

    /// <summary>
    /// Drops the test database <paramref name="connectionString"/> names, connected to the server's <c>postgres</c>
    /// database as the same user. Stop whatever uses it first; a database already gone is no error.
    /// </summary>
    public static async Task DropDatabaseAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        string name = builder.Database ?? "";
        // Only what CreateDatabaseAsync made: a mistaken connection string must not cost anyone a real database.
        if (!name.StartsWith(TestPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name}' is not a test database ({TestPrefix}…).", nameof(connectionString));
        }

        // This process's idle pooled connections would only break; FORCE ends everyone else's (the services').
        await using (var pooled = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }

        builder.Database = "postgres";
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>A new, empty RabbitMQ virtual host, so no test class sees another's messages.</summary>
    public static async Task<(RabbitMqServer Server, string VirtualHost)> CreateVirtualHostAsync()
    {
        var (_, rabbit) = await Servers.Value;
        return (rabbit, await CreateVirtualHostAsync(rabbit));
    }

    /// <summary>A new, empty virtual host on <paramref name="rabbit"/>, created through its management API.</summary>
    public static async Task<string> CreateVirtualHostAsync(RabbitMqServer rabbit)
    {
        string vhost = $"{TestPrefix}{Guid.NewGuid():N}";
        using var http = ManagementClient(rabbit);
        (await http.PutAsync($"api/vhosts/{vhost}", null)).EnsureSuccessStatusCode();
        using var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json");
        (await http.PutAsync($"api/permissions/{vhost}/{Uri.EscapeDataString(rabbit.Username)}", permissions)).EnsureSuccessStatusCode();
        return vhost;
    }

    /// <summary>Deletes <paramref name="vhost"/> (its queues and exchanges with it) through the management API; one already gone is no error.</summary>
    public static async Task DeleteVirtualHostAsync(RabbitMqServer rabbit, string vhost)
    {
        using var http = ManagementClient(rabbit);
        using var response = await http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}");
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            response.EnsureSuccessStatusCode();
        }
    }

    /// <summary>A client of <paramref name="rabbit"/>'s management API, signed in as the tests' user.</summary>
    public static HttpClient ManagementClient(RabbitMqServer rabbit)
    {
        var http = new HttpClient { BaseAddress = rabbit.ManagementUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{rabbit.Username}:{rabbit.Password}")));
        return http;
    }

    private static string? _rabbitMqCtl;

    /// <summary>
    /// How to run rabbitmqctl against the shared broker: the local node's (as root, which test.sh is) or, for a
    /// Testcontainers broker, inside its container. A command line, as deploy/rabbitmq/provision.sh takes it.
    /// </summary>
    public static async Task<string> RabbitMqCtlAsync()
    {
        await Servers.Value;
        return _rabbitMqCtl!;
    }

    private static async Task<(string, RabbitMqServer)> StartAsync()
    {
        string? postgres = Environment.GetEnvironmentVariable("SP_TEST_POSTGRES");
        string? rabbit = Environment.GetEnvironmentVariable("SP_TEST_RABBITMQ");
        if (!string.IsNullOrEmpty(postgres) && !string.IsNullOrEmpty(rabbit))
        {
            _rabbitMqCtl = Environment.IsPrivilegedProcess ? "rabbitmqctl" : "sudo -n rabbitmqctl";
            return (postgres, ParseRabbit(rabbit));
        }

        if (!File.Exists("/var/run/docker.sock") && Environment.GetEnvironmentVariable("DOCKER_HOST") is null)
        {
            throw new InvalidOperationException(
                "No PostgreSQL/RabbitMQ for the tests: run them through ./test.sh (which starts both), " +
                "or set SP_TEST_POSTGRES and SP_TEST_RABBITMQ, or make a Docker engine reachable.");
        }

        var pg = new PostgreSqlBuilder("postgres:15").Build();
        var mq = new RabbitMqBuilder("rabbitmq:3.10-management").WithPortBinding(15672, true).Build();
        await Task.WhenAll(pg.StartAsync(), mq.StartAsync());
        _rabbitMqCtl = $"docker exec -i {mq.Id} rabbitmqctl";
        var amqp = new Uri(mq.GetConnectionString());
        var userInfo = amqp.UserInfo.Split(':');
        return (new NpgsqlConnectionStringBuilder(pg.GetConnectionString()) { Database = "postgres" }.ConnectionString,
            new RabbitMqServer(amqp.Host, amqp.Port, Uri.UnescapeDataString(userInfo[0]), Uri.UnescapeDataString(userInfo[1]),
                new Uri($"http://{mq.Hostname}:{mq.GetMappedPublicPort(15672)}/")));
    }

    /// <summary>Parses <c>host=127.0.0.1;port=5672;username=guest;password=guest;management=http://127.0.0.1:15672/</c>.</summary>
    public static RabbitMqServer ParseRabbit(string value)
    {
        var parts = value.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        return new RabbitMqServer(parts["host"], int.Parse(parts["port"], System.Globalization.CultureInfo.InvariantCulture),
            parts["username"], parts["password"], new Uri(parts["management"]));
    }
}
