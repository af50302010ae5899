using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;

namespace ScheduledPosts.Testing;

/// <summary>
/// The services' own broker users, as deploy/rabbitmq/permissions.tsv describes them: the suite connects each service
/// as its own user with exactly those permissions, so every end-to-end, chaos and benchmark run checks that they
/// suffice, and the permission tests that they refuse what they must. Beside the services' users, <c>scheduling-monitor</c>
/// reads the management API for the scheduling service.
/// </summary>
public static class BrokerUsers
{
    /// <summary>The scheduling service's user for RabbitMQ's management API (Watch:BrokerManagementUsername).</summary>
    public const string SchedulingMonitor = "scheduling-monitor";

    /// <param name="Service">The user's name (a service's, or <see cref="SchedulingMonitor"/>).</param>
    /// <param name="Tags">RabbitMQ user tags, comma-separated; empty for none.</param>
    public sealed record Permission(string Service, string Configure, string Write, string Read, string Tags);

    public sealed record User(string Name, string Password);

    public static string FilePath => Path.Combine(Suite.RepoRoot, "deploy", "rabbitmq", "permissions.tsv");

    public static IReadOnlyList<Permission> Permissions { get; } = Load(FilePath);

    public static IReadOnlyList<Permission> Load(string path)
        => [.. File.ReadAllLines(path)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('\t'))
            .Select(f => f.Length == 5 ? new Permission(f[0], None(f[1]), None(f[2]), None(f[3]), None(f[4]))
                : throw new FormatException($"{path}: '{string.Join('\t', f)}' is not user, configure, write, read and tags separated by tabs."))];

    // `-` in the file: no permission, no tag.
    private static string None(string field) => field == "-" ? "" : field;

    /// <summary>The variable deploy/rabbitmq/provision.sh takes a user's password from (scheduling-monitor: SP_RABBITMQ_PASSWORD_SCHEDULING_MONITOR).</summary>
    public static string PasswordVariable(string user) => $"SP_RABBITMQ_PASSWORD_{user.ToUpperInvariant().Replace('-', '_')}";

    /// <summary>A user per line of the file on <paramref name="vhost"/> with its permissions and tags, made through the management API.</summary>
    public static async Task<IReadOnlyDictionary<string, User>> CreateAsync(RabbitMqServer rabbit, string vhost)
    {
        using var http = Infrastructure.ManagementClient(rabbit);
        var users = new Dictionary<string, User>();
        foreach (var permission in Permissions)
        {
            var user = new User($"{vhost}-{permission.Service}", Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
            (await http.PutAsJsonAsync($"api/users/{Uri.EscapeDataString(user.Name)}", new { password = user.Password, tags = permission.Tags })).EnsureSuccessStatusCode();
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
