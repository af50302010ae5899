using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Posts;

/// <summary>
/// A workspace's own rules: the publish lead (docs/api.md#lifecycle-rules), the optional cancel cutoff
/// (docs/api.md#cancel) and whether posts need approval (docs/api.md#approval).
/// </summary>
public sealed record WorkspaceSettingsView(int PublishLeadSeconds, int CancelCutoffSeconds, bool ApprovalRequired);

/// <summary>PATCH of the settings: an absent (or null) field is left as it is.</summary>
public sealed record UpdateWorkspaceSettingsRequest(int? PublishLeadSeconds = null, int? CancelCutoffSeconds = null, bool? ApprovalRequired = null);

public sealed class WorkspaceSettings(NpgsqlDataSource dataSource, IOptions<PostOptions> options)
{
    public async Task<WorkspaceSettingsView> GetAsync(NpgsqlConnection connection, string workspaceId, NpgsqlTransaction? tx = null)
        => await connection.QuerySingleOrDefaultAsync<WorkspaceSettingsView>(
               "SELECT publish_lead_seconds, cancel_cutoff_seconds, approval_required FROM workspace_settings WHERE workspace_id = @workspaceId",
               new { workspaceId }, tx)
           ?? new WorkspaceSettingsView((int)options.Value.PublishLead.TotalSeconds, 0, false);

    public async Task<WorkspaceSettingsView> GetAsync(string workspaceId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await GetAsync(connection, workspaceId);
    }

    public async Task<WorkspaceSettingsView> UpdateAsync(string workspaceId, UpdateWorkspaceSettingsRequest request)
    {
        if (request.PublishLeadSeconds is < 0 or > 3600)
        {
            throw ApiException.Validation("publishLeadSeconds", "publishLeadSeconds must be between 0 and 3600.");
        }

        if (request.CancelCutoffSeconds is < 0 or > 86400)
        {
            throw ApiException.Validation("cancelCutoffSeconds", "cancelCutoffSeconds must be between 0 and 86400.");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        var current = await GetAsync(connection, workspaceId);
        var next = new WorkspaceSettingsView(
            request.PublishLeadSeconds ?? current.PublishLeadSeconds, request.CancelCutoffSeconds ?? current.CancelCutoffSeconds,
            request.ApprovalRequired ?? current.ApprovalRequired);
        await connection.ExecuteAsync("""
            INSERT INTO workspace_settings (workspace_id, publish_lead_seconds, cancel_cutoff_seconds, approval_required)
            VALUES (@workspaceId, @PublishLeadSeconds, @CancelCutoffSeconds, @ApprovalRequired)
            ON CONFLICT (workspace_id) DO UPDATE
            SET publish_lead_seconds = excluded.publish_lead_seconds, cancel_cutoff_seconds = excluded.cancel_cutoff_seconds,
                approval_required = excluded.approval_required, updated_at = now()
            """, new { workspaceId, next.PublishLeadSeconds, next.CancelCutoffSeconds, next.ApprovalRequired });
        return next;
    }
}
