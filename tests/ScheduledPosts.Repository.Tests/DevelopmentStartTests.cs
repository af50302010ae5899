using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Repository.Tests;

/// <summary>
/// <c>dotnet run</c> in Development needs nothing but the local infrastructure (<c>start_local_infra</c>): the services
/// start from their appsettings.Development.json and the secrets DevelopmentSecrets generates, and agree on them.
/// Binds the Development ports (8080–8086): fails if something else holds them.
/// </summary>
public sealed class DevelopmentStartTests
{
    [Fact]
    public async Task The_services_start_in_Development_with_generated_shared_secrets_and_the_gateway_reaches_scheduling()
    {
        string home = Directory.CreateTempSubdirectory("sp-dev-home-").FullName;
        // The servers Development points at; only the database and virtual host are fresh, so tests don't share them.
        string postgres = DevelopmentSetting("scheduling", "ConnectionStrings", "Postgres");
        string database = new NpgsqlConnectionStringBuilder(await Infrastructure.CreateDatabaseAsync(
            new NpgsqlConnectionStringBuilder(postgres) { Database = "postgres" }.ConnectionString)).Database!;
        var rabbit = new RabbitMqServer(
            DevelopmentSetting("scheduling", "RabbitMq", "Host"), 5672,
            DevelopmentSetting("scheduling", "RabbitMq", "Username"), DevelopmentSetting("scheduling", "RabbitMq", "Password"),
            new Uri($"http://{DevelopmentSetting("scheduling", "RabbitMq", "Host")}:15672/"));
        string vhost = await Infrastructure.CreateVirtualHostAsync(rabbit);

        var services = new List<ServiceProcess>();
        try
        {
            foreach (string name in new[] { "scheduling", "publisher", "webhooks", "gateway" })
            {
                var described = Deployment.Current[name];
                var environment = new Dictionary<string, string>
                {
                    ["ASPNETCORE_ENVIRONMENT"] = "Development",
                    ["HOME"] = home,
                    ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
                    ["ConnectionStrings__Postgres"] = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString,
                    ["RabbitMq__VirtualHost"] = vhost,
                };
                if (!described.Settings.Contains("ConnectionStrings:Postgres"))
                {
                    environment.Remove("ConnectionStrings__Postgres");
                }

                var health = new Uri($"http://localhost:{described.Listeners[0].Port}{described.Health}");
                services.Add(new ServiceProcess(name, Suite.BuildOutput(name), environment, health));
            }

            // All at once: each may be the one that creates the secrets file, and they must end up with the same secrets.
            await Task.WhenAll(services.Select(s => s.StartAsync()));

            string file = Path.Combine(home, ".config", "scheduledposts", DevelopmentSecrets.FileName);
            Assert.True(File.Exists(file), $"No secrets file at {file}:\n{string.Join('\n', services.Select(s => s.Output))}");
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }

            foreach (var service in services)
            {
                Assert.True(service.CountLines(file) > 0, $"{service.Name} did not say where its Development secrets are:\n{service.Output}");
            }

            var secrets = JsonSerializer.Deserialize<Dictionary<string, string>>(await File.ReadAllTextAsync(file))!;
            string gateway = $"http://localhost:{Deployment.Current["gateway"].Listeners[0].Port}";
            using var http = new HttpClient { BaseAddress = new Uri(gateway) };
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/posts");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secrets["Bootstrap:Key"]);
            using var response = await http.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.OK,
                $"GET /v1/posts through the gateway: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}\n{string.Join('\n', services.Select(s => s.Output))}");
        }
        finally
        {
            foreach (var service in services)
            {
                await service.DisposeAsync();
            }

            Directory.Delete(home, recursive: true);
            await DropAsync(postgres, database, rabbit, vhost);
        }
    }

    // The database and virtual host are the test's own: leave nothing behind on the developer's servers.
    private static async Task DropAsync(string postgres, string database, RabbitMqServer rabbit, string vhost)
    {
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(postgres) { Database = "postgres" }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }

        using var http = new HttpClient { BaseAddress = rabbit.ManagementUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{rabbit.Username}:{rabbit.Password}")));
        using var deleted = await http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}");
    }

    // A value of a service's appsettings.Development.json.
    private static string DevelopmentSetting(string service, string section, string key)
    {
        string file = Path.Combine(Suite.RepoRoot, Deployment.Current[service].ProjectDirectory, "appsettings.Development.json");
        using var document = JsonDocument.Parse(File.ReadAllText(file));
        return document.RootElement.GetProperty(section).GetProperty(key).GetString()
            ?? throw new InvalidOperationException($"{file} has no {section}:{key}.");
    }
}
