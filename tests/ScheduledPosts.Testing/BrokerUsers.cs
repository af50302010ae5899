using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;

namespace ScheduledPosts.Testing;

/// <summary>
/// The services' own broker users, as deploy/rabbitmq/permissions.tsv describes them: the suite connects each service
/// as its own user with exactly those permissions, so every end-to-end, chaos and benchmark run checks that they
/// suffice, and the permission tests that they refuse what they must.
/// </summary>
public static class BrokerUsers
{
    public sealed record Permission(string Service, string Configure, string Write, string Read);

    public sealed record User(string Name, string Password);

    public static string FilePath => Path.Combine(Suite.RepoRoot, "deploy", "rabbitmq", "permissions.tsv");

    public static IReadOnlyList<Permission> Permissions { get; } = Load(FilePath);

    public static IReadOnlyList<Permission> Load(string path)
        => [.. File.ReadAllLines(path)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('\t'))
            .Select(f => f.Length == 4 ? new Permission(f[0], f[1], f[2], f[3])
                : throw new FormatException($"{path}: '{string.Join('\t', f)}' is not service, configure, write and read separated by tabs."))];

    /// <summary>A user per service on <paramref name="vhost"/> with its permissions, made through the management API.</summary>
    public static async Task<IReadOnlyDictionary<string, User>> CreateAsync(RabbitMqServer rabbit, string vhost)
    {
        using var http = Infrastructure.ManagementClient(rabbit);
        var users = new Dictionary<string, User>();
        foreach (var permission in Permissions)
        {
            var user = new User($"{vhost}-{permission.Service}", Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
            (await http.PutAsJsonAsync($"api/users/{Uri.EscapeDataString(user.Name)}", new { password = user.Password, tags = "" })).EnsureSuccessStatusCode();
            (await http.PutAsJsonAsync($"api/permissions/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(user.Name)}",
                new { configure = permission.Configure, write = permission.Write, read = permission.Read })).EnsureSuccessStatusCode();
            users[permission.Service] = user;
        }

        return users;
    }

    /// <summary>Deletes the users <see cref="CreateAsync"/> made for <paramref name="vhost"/>; ones already gone are no error.</summary>
    public static async Task DeleteAsync(RabbitMqServer rabbit, string vhost)
    {
        using var http = Infrastructure.ManagementClient(rabbit);
        foreach (var permission in Permissions)
        {
            using var response = await http.DeleteAsync($"api/users/{Uri.EscapeDataString($"{vhost}-{permission.Service}")}");
            if (response.StatusCode != HttpStatusCode.NotFound)
            {
                response.EnsureSuccessStatusCode();
            }
        }
    }
}
